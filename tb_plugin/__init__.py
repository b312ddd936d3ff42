"""TensorBoard plugin for keras-relevance (import name `keras_relevance_tb`)."""
