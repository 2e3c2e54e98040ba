"""OpenSlide's Deep Zoom (python3-openslide's DeepZoomGenerator) over HTTP, the open-at-once anchor of
`npm run bench:open`: like OpenSlide's own deepzoom_server example, the slide is opened on the first
request and every tile is read and encoded from the source on request.

    /usr/bin/python3 open-openslide.py SLIDE PORT OSD_JS

/slide.dzi, /slide_files/LEVEL/COL_ROW.jpeg, /view.html (OpenSeadragon on the slide, which sets
data-loaded on <body> once the first view is fully loaded), /osd.js. Prints "ready" once listening.
"""

import io
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openslide
from openslide.deepzoom import DeepZoomGenerator

SLIDE, PORT, OSD_JS = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TILE, OVERLAP = 254, 1
lock = threading.Lock()
state = {}

VIEW = b"""<!doctype html><html><head><meta charset="utf-8"><style>html,body,#v{margin:0;width:100%;height:100%;background:#fff}</style></head>
<body><div id="v"></div><script src="/osd.js"></script><script>
const v = OpenSeadragon({ id: 'v', tileSources: '/slide.dzi', showNavigationControl: false, blendTime: 0,
  immediateRender: true, drawer: 'canvas', maxTilesPerFrame: 12 });
v.addHandler('open', () => v.world.getItemAt(0).addHandler('fully-loaded-change', (e) => {
  if (e.fullyLoaded) document.body.dataset.loaded = 'true'; }));
</script></body></html>"""


def generator():
    with lock:
        if "dz" not in state:
            state["dz"] = DeepZoomGenerator(openslide.OpenSlide(SLIDE), TILE, OVERLAP, limit_bounds=False)
        return state["dz"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, body, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        try:
            if path == "/view.html":
                return self.send(VIEW, "text/html")
            if path == "/osd.js":
                with open(OSD_JS, "rb") as f:
                    return self.send(f.read(), "application/javascript")
            if path == "/slide.dzi":
                return self.send(generator().get_dzi("jpeg").encode(), "application/xml")
            if path.startswith("/slide_files/"):
                level, name = path[len("/slide_files/"):].split("/")
                col, row = name.rsplit(".", 1)[0].split("_")
                tile = generator().get_tile(int(level), (int(col), int(row)))
                buf = io.BytesIO()
                tile.save(buf, "jpeg", quality=75)
                return self.send(buf.getvalue(), "image/jpeg")
        except (ValueError, IndexError):
            pass
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
