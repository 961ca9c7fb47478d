"""SHA-256 of a file's bytes: exact copies, for platforms that hash with SHA-256."""

from hashbank.fingerprints.exact import FileDigest


class SHA256(FileDigest):
    name = "sha256"
    bits = 256
    algorithm = "sha256"
    degenerate = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855": "the SHA-256 of an empty file"
    }

    @classmethod
    def get_examples(cls) -> list[str]:
        return [
            "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592",
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        ]


validate = SHA256.validate
distance = SHA256.distance
