"""glra-trainer: fit GLRA bases, train, evaluate and export napari-glra models.

Imports the napari-glra core; the plugin never imports this package.
"""

__version__ = "0.1.0"
