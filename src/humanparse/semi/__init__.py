"""Semi-supervised parsing (HIPN): pseudo-labels for unlabelled images, which of their pixels to
trust (:mod:`.noise`), and retraining on labels plus pseudo-labels."""
