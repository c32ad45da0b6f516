"""exactlink: link a Dutch accounting office's CRM to Exact Online."""

__version__ = "0.1.0"
