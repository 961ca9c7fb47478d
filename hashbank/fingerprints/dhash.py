"""imagehash's difference hash (neighbour gradients of a 9x8 greyscale image)."""

from hashbank.fingerprints.imagehashes import ImageHashSignalType


class DHash(ImageHashSignalType):
    name = "dhash"
    imagehash_function = "dhash"
    threshold = 8

    @classmethod
    def get_examples(cls) -> list[str]:
        # Computed by imagehash from seeded drawings of ellipses (tests re-derive them).
        return ["000800181c4e2c2c", "042604230b4fdcd5", "0525250033376652"]


validate = DHash.validate
distance = DHash.distance
