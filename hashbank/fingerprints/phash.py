"""imagehash's perceptual hash (DCT of a 32x32 greyscale image)."""

from hashbank.fingerprints.imagehashes import ImageHashSignalType


class PHash(ImageHashSignalType):
    name = "phash"
    imagehash_function = "phash"
    # 64 bits leave far less room than PDQ's 256: above about 8 differing bits unrelated
    # photos start to collide, so the threshold stays low.
    threshold = 8

    @classmethod
    def get_examples(cls) -> list[str]:
        # Computed by imagehash from seeded drawings of ellipses (tests re-derive them).
        return ["b7c9ce631dc0a21d", "a7dc1c334e99e621", "ecd2473cc983b88d"]


validate = PHash.validate
distance = PHash.distance
