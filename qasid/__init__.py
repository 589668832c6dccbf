"""qasid: a sovereign, end-to-end-encrypted Matrix homeserver for government officials."""

__version__ = "0.1.0"
