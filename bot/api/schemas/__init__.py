"""Request and response models of the REST API, one module per feature (they also
generate the OpenAPI document)."""
