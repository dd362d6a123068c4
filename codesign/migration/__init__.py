"""VM relocation: pre-copy live migration (:mod:`~codesign.migration.precopy`) with dirty
logging by write protection, PML or dirty-flag scanning."""
