"""MD5 of a video file's bytes, python-threatexchange's `video_md5`: many platforms do not
transcode on upload, so an exact digest still catches straight re-uploads."""

from hashbank.fingerprints.md5 import MD5


class VideoMD5(MD5):
    name = "video_md5"


validate = VideoMD5.validate
distance = VideoMD5.distance
