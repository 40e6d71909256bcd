"""mmharness: score any multimodal model on published benchmarks with their official protocols."""

__version__ = "0.1.0"

SCHEMA_VERSION = "1.1"  # results JSON schema version (mmharness/schemas/results.schema.json)
#: versions this build reads: 1.1 only adds optional fields to 1.0 (tasks.*.requests), so a 1.0 file is a valid 1.1 file
READABLE_SCHEMA_VERSIONS = ("1.0", "1.1")
