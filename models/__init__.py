"""Keras models: the CustomCNN from scratch and the EfficientNet transfer model."""
