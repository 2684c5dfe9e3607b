"""newsdrop: a watch-folder ingestion service for scraped Chinese news pages."""

__version__ = "0.1.0"
