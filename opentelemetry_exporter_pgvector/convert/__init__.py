"""SDK objects to rows: one pure converter per signal, on the skeleton of ``converter.py``.

``values.py``, ``scope.py``, ``shapes.py`` and ``table.py`` hold the sanitizing, resource,
shape and row helpers the converters share.
"""
