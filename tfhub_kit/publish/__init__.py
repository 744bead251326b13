"""Publishing targets: Google Cloud Storage (`gcs`), Kaggle Models (`kaggle`), and a local
hub URL server for testing (`hubserver`)."""
