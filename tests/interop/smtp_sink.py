"""A real SMTP server (aiosmtpd) on loopback that writes every message it receives to a
folder, one file per message. Usage: smtp_sink.py PORT DIR   (runs until killed)"""

import asyncio
import pathlib
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        name = self.folder / f"{time.time():.6f}-{self.n}.eml"
        head = f"X-Envelope-From: {envelope.mail_from}\nX-Envelope-To: {','.join(envelope.rcpt_tos)}\n"
        name.write_bytes(head.encode() + envelope.original_content)
        return "250 Message accepted"


port, folder = int(sys.argv[1]), sys.argv[2]
pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
controller.start()
print(f"smtp sink on 127.0.0.1:{port}", flush=True)
try:
    asyncio.get_event_loop().run_forever()
except KeyboardInterrupt:
    pass
finally:
    controller.stop()
