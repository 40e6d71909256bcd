"""mmharness: score any multimodal model on published benchmarks with their official protocols."""

__version__ = "0.1.0"

SCHEMA_VERSION = "1.0"  # results JSON schema version (mmharness/schemas/results.schema.json)
