"""Stage 1-2, the data: scan a folder-per-class dataset, group its images by source video, cache pixels.

Also the embedded demo data, the Kaggle download, thumbnails for the report and the pixel
fingerprints (perceptual hashes, backbone embeddings) behind `--groups infer` and the leakage audit.
"""
