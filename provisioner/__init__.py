"""provisioner: an approved application case, installed, trialled and recorded."""

__version__ = "0.1.0"
