"""Fakes shared by the unit and integration tests: a scripted transcriber and a fake clock
(``models``), fakes of the enrichment model ports (``enrichment``)."""
