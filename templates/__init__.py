"""The Jinja templates `tfhub-kit docs` renders (tfhub.dev pages and the Kaggle card).

They live at the top of the repository and ship in the wheel as the package
`tfhub_kit.templates`; a recipe's `docs.templates: DIR` overrides any of them by file name.
"""
