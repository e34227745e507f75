"""Classes transcribed from ../shared/design-docs, one module per document, registered into zoo.MODELS."""
