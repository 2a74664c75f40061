"""The extension's HTTP service (``stylehint serve``): learning sync in, served profiles out."""
