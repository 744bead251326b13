"""Publishing targets: Google Cloud Storage (`gcs`), Kaggle Models (`kaggle`), chosen by URL
scheme through `targets`, and a local hub URL server for testing (`hubserver`)."""
