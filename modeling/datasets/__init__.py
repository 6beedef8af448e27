"""Data shipped inside the package (SST-2, a generic English sample), found with ``importlib.resources``.

Shipping it makes a clone or a wheel stand alone: nothing is read from beside the checkout. Provenance and
licences are in ``README.md`` beside this file.
"""
