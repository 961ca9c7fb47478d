"""MD5 of a photo's bytes: finds only byte-identical copies."""

from hashbank.fingerprints.exact import FileDigest


class MD5(FileDigest):
    name = "md5"
    bits = 128
    algorithm = "md5"
    # The digest of an empty file would "match" every empty upload.
    degenerate = {"d41d8cd98f00b204e9800998ecf8427e": "the MD5 of an empty file"}

    @classmethod
    def get_examples(cls) -> list[str]:
        return ["cab08b36195edb1a1231d2d09fa450e0", "9e107d9d372bb6826bd81d3542a419d6"]


validate = MD5.validate
distance = MD5.distance
