"""Data where it lives: fsspec URLs (``s3://``, ``gs://``, ``https://``) fetched into the workspace and
runs copied back out. fsspec and s3fs are the ``s3`` extra, imported only when a URL is used."""
