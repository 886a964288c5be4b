#!/usr/bin/python3
"""The Secret Service's own share of a keychain `get` or `store`.

Holds, in one process and many times over, the same D-Bus conversation the
helper holds with the keyring, and times each whole conversation; no process
starts inside the timing. What the helper takes beyond this is its own work.

  keyring_floor.py get PATH OUT.json   the conversation of `get`: connect and
      Hello, Ping, OpenSession, the item's Attributes and its GetSecret
  keyring_floor.py store OUT.json      the conversation of a `store` that
      replaces a token: connect and Hello, Ping, OpenSession, ReadAlias,
      CreateItem, then the old item's Attributes and Delete

Writes the median, minimum and maximum (seconds) as hyperfine's JSON does.
When OUT.json exists, this run's times are pooled with the ones it holds: the
bench measures each floor before and after the helpers, so that a passing
change in the machine's speed does not land on the floor alone.
Needs Debian's python3-dbus (run with /usr/bin/python3).
"""

import json
import os
import secrets
import statistics
import sys
import time

import dbus

SERVICE = "org.freedesktop.secrets"
ROOT = "/org/freedesktop/secrets"
WARMUP = 3
# A `get` floor costs a few milliseconds: many runs keep its median steady.
RUNS = {"get": 200, "store": 30}


def session(bus):
    service = bus.get_object(SERVICE, ROOT, introspect=False)
    service.Ping(dbus_interface="org.freedesktop.DBus.Peer")
    _, path = service.OpenSession(
        "plain", dbus.String("", variant_level=1), dbus_interface="org.freedesktop.Secret.Service"
    )
    return service, path


def attributes(bus, path):
    item = bus.get_object(SERVICE, path, introspect=False)
    return item, item.Get(
        "org.freedesktop.Secret.Item", "Attributes", dbus_interface="org.freedesktop.DBus.Properties"
    )


def get(address, path):
    bus = dbus.bus.BusConnection(address)
    _, session_path = session(bus)
    item, _ = attributes(bus, path)
    item.GetSecret(session_path, dbus_interface="org.freedesktop.Secret.Item")
    bus.close()


def store(address, old):
    bus = dbus.bus.BusConnection(address)
    service, session_path = session(bus)
    collection = service.ReadAlias("default", dbus_interface="org.freedesktop.Secret.Service")
    # An item shaped like the helper's (its attributes and label), in a data
    # folder of its own (`home`), so no helper lists it.
    name = secrets.token_hex(16)
    properties = {
        "org.freedesktop.Secret.Item.Label": "docker-credential-pat: floor @ floor.invalid",
        "org.freedesktop.Secret.Item.Attributes": dbus.Dictionary(
            {
                "service": "docker-credential-pat",
                "username": name,
                "registry": "floor.invalid",
                "account": "floor",
                "token": secrets.token_hex(16),
                "home": "/keyring-floor",
            },
            signature="ss",
        ),
    }
    secret = dbus.Struct(
        (session_path, dbus.ByteArray(b""), dbus.ByteArray(b"dckr_pat_FLOORSECRET"), "text/plain")
    )
    created, _ = bus.call_blocking(
        SERVICE, collection, "org.freedesktop.Secret.Collection", "CreateItem",
        "a{sv}(oayays)b", (properties, secret, True), timeout=120,
    )
    if old:
        item, _ = attributes(bus, old)
        item.Delete(dbus_interface="org.freedesktop.Secret.Item", timeout=120)
    bus.close()
    return str(created)


def main():
    address = os.environ["DBUS_SESSION_BUS_ADDRESS"]
    mode, out = sys.argv[1], sys.argv[-1]
    times = []
    old = store(address, None) if mode == "store" else None
    for run in range(WARMUP + RUNS[mode]):
        start = time.perf_counter()
        if mode == "get":
            get(address, sys.argv[2])
        else:
            old = store(address, old)
        if run >= WARMUP:
            times.append(time.perf_counter() - start)
    if mode == "store":
        item = dbus.bus.BusConnection(address).get_object(SERVICE, old, introspect=False)
        item.Delete(dbus_interface="org.freedesktop.Secret.Item")
    if os.path.exists(out):
        with open(out) as f:
            times += json.load(f)["results"][0]["times"]
    result = {"median": statistics.median(times), "min": min(times), "max": max(times), "times": times}
    with open(out, "w") as f:
        json.dump({"results": [result]}, f)


if __name__ == "__main__":
    main()
