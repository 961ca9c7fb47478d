"""imagehash's average hash (8x8 greyscale against its mean): the weakest of the three,
kept because some platforms still run it; its threshold is the tightest for that reason."""

from hashbank.fingerprints.imagehashes import ImageHashSignalType


class AHash(ImageHashSignalType):
    name = "ahash"
    imagehash_function = "average_hash"
    threshold = 5

    @classmethod
    def get_examples(cls) -> list[str]:
        # Computed by imagehash from seeded drawings of ellipses (tests re-derive them).
        return ["ffffff8e86e7a686", "fff7ffffe1e70f00", "f4f0ffffdb93b3f0"]


validate = AHash.validate
distance = AHash.distance
