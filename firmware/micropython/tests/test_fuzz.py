"""Random and corrupted byte streams: the parser never crashes and always resynchronises."""
import random

from support import decode_all, encode, excite_payload, make_server

PING, EXCITE = 5, 3
ROUNDS = 60


def _garbage(n):
    return bytes(random.getrandbits(8) for _ in range(n))


def _with_magic(n):
    """Noise salted with magics and plausible headers, the hard case for a resynchroniser."""
    out = bytearray(_garbage(n))
    for _ in range(n // 16):
        at = random.getrandbits(16) % max(1, n - 2)
        out[at] = 0xA5
        out[at + 1] = 0x5A
    return bytes(out)


def test_noise_then_a_frame_is_always_answered():
    random.seed(1)
    for round_ in range(ROUNDS):
        noise = _with_magic(1 + random.getrandbits(9)) if round_ % 2 else _garbage(1 + random.getrandbits(9))
        ping = encode(PING, round_, b"ok")
        server, link, _ = make_server([noise, 150, ping, 150])
        server.serve()
        replies = decode_all(link.written)
        assert (0x85, round_, b"ok") in replies, (round_, replies)


def test_bit_flips_give_bad_crc_or_silence_never_a_wrong_reply():
    random.seed(2)
    good = encode(EXCITE, 77, excite_payload([(1, 2, 3), (4, 5, 6)]))
    for round_ in range(ROUNDS):
        damaged = bytearray(good)
        bit = random.getrandbits(16) % (8 * len(good))
        damaged[bit // 8] ^= 1 << (bit % 8)
        server, link, hal = make_server([bytes(damaged), 150, good])
        server.serve()
        replies = decode_all(link.written)
        assert replies[-1][0] == 0x83 and replies[-1][1] == 77, (bit, replies)
        assert all(r[0] == 0xFF and r[2][0] == 1 for r in replies[:-1]), (bit, replies)
        assert len(hal.applied) == 1


def test_truncated_frames_and_random_splits_resynchronise():
    random.seed(3)
    for round_ in range(ROUNDS):
        frame = encode(EXCITE, round_, excite_payload([(round_, 0, 1)]))
        cut = frame[:random.getrandbits(8) % len(frame)]
        script = [cut, 150]
        follow = encode(PING, 1000 + round_, b"z")
        at = 0
        while at < len(follow):
            step = 1 + random.getrandbits(3)
            script += [follow[at:at + step], random.getrandbits(6)]
            at += step
        server, link, _ = make_server(script)
        server.serve()
        replies = decode_all(link.written)
        assert replies and replies[-1][:2] == (0x85, 1000 + round_), (round_, replies)
