"""Coverage-guided fuzz targets (atheris) for the protocol parser and the file readers."""
