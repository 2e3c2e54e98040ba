"""Regions of OpenSlide slides on request, for a slide served straight from its source.

    /usr/bin/python3 region-reader.py

Started and kept by tiles/readers/openslide/regions.ts. Requests come on stdin, one JSON object a
line, and are answered in order on stdout with an 8-byte header (status, length: two little-endian
uint32; status 0 = pixels, 1 = error) and `length` bytes: packed 8-bit RGB, or a UTF-8 message.

  {"file": PATH, "level": K, "x": X0, "y": Y0, "w": W, "h": H}
      W x H pixels of level K from level-0 position (X0, Y0), as OpenSlide's read_region takes it;
      transparent pixels (outside scanned areas) are laid on the slide's background colour, white
      when it names none, as the conversion flattens them.
  {"properties": PATH}
      the slide's properties (OpenSlide's, every vendor's among them) as a UTF-8 JSON object.
  {"forget": PATH}   closes PATH (answered with an empty status 0).

A few slides stay open (the most recently used). The process ends when stdin closes.
"""

import collections
import json
import struct
import sys

OPEN_SLIDES = 8


def main():
    out = sys.stdout.buffer
    try:
        import openslide
        from PIL import Image
    except Exception as e:  # noqa: BLE001 - told to the caller as the answer to every request
        broken = f"python3-openslide is not installed: {e}"
        openslide = None
    else:
        broken = None
    slides = collections.OrderedDict()

    def answer(status, payload):
        out.write(struct.pack("<II", status, len(payload)))
        out.write(payload)
        out.flush()

    def slide(path):
        s = slides.pop(path, None)
        if s is None:
            handle = openslide.OpenSlide(path)
            bg = handle.properties.get("openslide.background-color") or "ffffff"
            try:
                colour = tuple(int(bg[i : i + 2], 16) for i in (0, 2, 4))
            except ValueError:
                colour = (255, 255, 255)
            s = (handle, colour)
        slides[path] = s
        while len(slides) > OPEN_SLIDES:
            slides.popitem(last=False)[1][0].close()
        return s

    for line in sys.stdin.buffer:
        try:
            r = json.loads(line)
            if "forget" in r:
                s = slides.pop(r["forget"], None)
                if s:
                    s[0].close()
                answer(0, b"")
                continue
            if broken:
                raise RuntimeError(broken)
            if "properties" in r:
                handle = slide(r["properties"])[0]
                answer(0, json.dumps(dict(handle.properties)).encode("utf-8"))
                continue
            handle, colour = slide(r["file"])
            w, h = int(r["w"]), int(r["h"])
            img = handle.read_region((int(r["x"]), int(r["y"])), int(r["level"]), (w, h))
            rgb = Image.new("RGB", (w, h), colour)
            rgb.paste(img, mask=img.getchannel("A"))
            answer(0, rgb.tobytes())
        except Exception as e:  # noqa: BLE001 - one failed region is that request's answer
            answer(1, (str(e) or type(e).__name__).encode("utf-8", "replace")[:2000])


if __name__ == "__main__":
    main()
