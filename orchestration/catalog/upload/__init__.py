"""Checking a model upload before anything is stored. Plain Python, no Django.

An upload is a folder, a .zip or a .tar.gz of one (see SPEC.md, "Model upload format"):

    config.yaml          model.id and optional compute needs
    requirements.txt     optional pip requirements
    1/model.py           one class with predict(self, inputs)
    1/...                anything else the model reads

``load_upload(source, workdir, limits)`` unpacks the upload safely into ``workdir`` and
checks it; every problem is an ``UploadError`` naming the file at fault (a path inside the
upload, or the archive's name) and saying what is wrong and what is accepted. On failure
nothing is left in ``workdir``. The caller stores ``pack_folder(upload.root)``, a
deterministic .tar.gz of the checked files.

The modules, from the bottom up:

    errors, limits    UploadError; UploadLimits and how sizes are written
    members           the one table of refused entry kinds; archive path rules
    tree              the upload's file names, skipped junk, walking and reading it
    zip_directory     a zip's central-directory size, read before zipfile parses it
    readers           folder, zip and tar entries as one stream of Members
    unpacker          writes members, counting entries, files and real bytes
    extract           extract_upload(): the one loop that applies the rules
    config            config.yaml checks
    requirements      requirements.txt checks
    model_code        the AST check of 1/model.py (parsed, never imported)
    validate          validate_model_folder(), load_upload(), ModelUpload
    pack              pack_folder()
"""

from .config import MODEL_ID_PATTERN
from .errors import UploadError
from .extract import extract_upload
from .limits import UploadLimits
from .pack import pack_folder
from .tree import CONFIG_FILE, IGNORED_DIRS, IGNORED_FILES, MODEL_FILE, REQUIREMENTS_FILE
from .validate import ModelUpload, load_upload, validate_model_folder

__all__ = [
    "CONFIG_FILE",
    "IGNORED_DIRS",
    "IGNORED_FILES",
    "MODEL_FILE",
    "MODEL_ID_PATTERN",
    "REQUIREMENTS_FILE",
    "ModelUpload",
    "UploadError",
    "UploadLimits",
    "extract_upload",
    "load_upload",
    "pack_folder",
    "validate_model_folder",
]
