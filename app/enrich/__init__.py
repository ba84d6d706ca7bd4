"""Enrichment of results: speakers, sentiment, topics, profanity masking, wake words.

Pure logic over the controller's enricher ports; the models sit behind the
:mod:`app.enrich.ports` (Ray deployments in the service, in-process engines in the
file mode and tests). Importing this package loads no model library.
"""
