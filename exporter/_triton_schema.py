"""Triton Inference Server's ``ModelConfig`` schema, so a generated ``config.pbtxt`` is parsed the way Triton parses it.

Why vendored: the schema is ``model_config.proto`` (package ``inference``) of triton-inference-server/common; the
``tritonclient`` wheel ships it compiled, but importing it pulls grpc and pins protobuf<7, while parsing needs only
protobuf, which onnx already depends on. Stored here is the serialized ``FileDescriptorProto`` of that file exactly
as compiled in tritonclient 2.73.0 (``tritonclient/grpc/model_config_pb2.py``), zlib-compressed and base64-encoded,
sha256 of the uncompressed bytes ``d9cbaa1bf0cda450d16dcb115abab2f87a9105ccc90cf3d10520d15594791e5e``. It is loaded
into a private descriptor pool, so it never clashes with a tritonclient imported in the same process.

``parse_model_config`` is strict, like Triton: an unknown field, a wrong enum name (``KIND_GPUS``) or a malformed
value raises. The schema text carries this notice:

    Copyright 2018-2026, NVIDIA CORPORATION & AFFILIATES. All rights reserved.

    Redistribution and use in source and binary forms, with or without modification, are permitted provided that
    the following conditions are met:
     * Redistributions of source code must retain the above copyright notice, this list of conditions and the
       following disclaimer.
     * Redistributions in binary form must reproduce the above copyright notice, this list of conditions and the
       following disclaimer in the documentation and/or other materials provided with the distribution.
     * Neither the name of NVIDIA CORPORATION nor the names of its contributors may be used to endorse or promote
       products derived from this software without specific prior written permission.

    THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS ``AS IS'' AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING,
    BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
    DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT,
    INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
    SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
    THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING
    IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

    Copyright (c) 2018, TensorFlow Authors. All rights reserved.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import zlib
from typing import Any

from acc.profiles import ExportError

SCHEMA_SOURCE = "triton-inference-server/common protobuf/model_config.proto (as compiled in tritonclient 2.73.0)"
_SHA256 = "d9cbaa1bf0cda450d16dcb115abab2f87a9105ccc90cf3d10520d15594791e5e"
_DESCRIPTOR = (
    "eNq9Gk1vG9dR/JLIoUhRqy967dgu47iKEzOxEn8kaYBSJGUxlkiFoqykl8WKfKIWXnLZ3aUd5Q8U6KVB0Y9De+wfKHop+h96yqnooUAPPfaS"
    "W4ECnTfvLbW7pETZMXoS972ZefPme+YJlJ7VYabWtvrHRrc4sC3XUlJG/5jZrN9mhd9EILfLIZq6y3aMnuEyW3kIKZs51tBuMycfuRlbT2/c"
    "Ko5wimH4YlMCKzlIDmzDsg33NB+9GVnPqA8hOdqdh3hf7zGkGFlPKVmY7ZrWkW4SZFLJQKJtDftuPsYRCz+Lg0IH1fqOq+Oxj21rOAjReB/i"
    "z4x+Jx/Hr+xGIcxjALX4BCHPTuGHJpR7MG/jRTRT3CQ/i6vpjasXXJZz0B0MHWQzhgS2YdFhKNyObp9qHfbc4CJLksjuXszOvodWISxlAeZQ"
    "O8eGyfIJxE/Rgu44xnOWnyMJLUH6xHJcbWCZRvs0n+IiUH8fgYUwqYYUS4TEUnopPsLfJLVFSIm7aUaHJBcrvAVLkyCzAE9q9YpWf1rZKeVm"
    "CiWIS7mnaL100GrkZlCISfp8vHeQi4y+yvgVHZHYbVSqO7lY4U1pCC3WdywbrelEHzCuSPpB9hkrfBsFkJcbDN2QmdxG9nVX19xThI+SUJZ8"
    "QqngXgu3lHdh9tiye7qwwezGtXHJIfHiFsHwMzpGz0HjQwaUIszZgjVUHzeiN8LIQf7XYMFwNPqtubRDxpdUVFB007ReaLbe7bKOdqS77RNp"
    "Aehf1sA1rD56TZJWbsAakulbfTThPtNtTVxAMyyyj2ThE5iV/C5AeqvR3C21tHqjXkUl+Ba2D8uoB99CefswFy18G4E08d4Yuq8uVk9QsVcS"
    "1CpkTf0IQxh3DTo9TqefK8ALREJSLPwNbWWTS1XYynrAW1QfN2dAInigA7q63WWuRnxEyU0DUoidL4VlmBdxUDM4RTKbVOGvEekga7C0WWqV"
    "t7XqTnW3Wm9p5cZBvYVaehNuiI1SuXywe7BTalUrIaCIchfengKkHdZa29pPqs0GutgtuCnAd0tfhMBK+9r+dmmvmoshxzkBVWtVd+VqXLkG"
    "+fCqtoUHtqr1XKLwC7QYEpu0mJDIIiSyt6XEhc1cDUtcoAqRh6UWI6ndkUIrwHXBy36ZM9AUl6zV9w5akt+ZwjdRGT+eMttB19mj6Kk8gFkT"
    "o7rjkt4nJLgAeHGHYLdnMOXE0D2J9fTGDy5GKpkmYnwMSWfA2sax0Sb7SG/cvhhtX0Jvz6jXYVaczAXRH/a05wLSIa4zagJieIh6DZIeEo8R"
    "PiD0uM0FyIiUobVPLAzUhf9mYE24NQaTnvG17p7J5SEkurY+OJFiWQ+zOo5SfMzhlc1Q7s9uvH8JXFrfk3jKfYi3hx1diumHl8AvI7jyBayy"
    "r1h7yNc1vd1mJsOsbtkOhYr0xqNLEKp6BEo+fKUJS2R32sDo9zEY91jPsk9l4Lp/CbJ7hLdLaJvDYwRX9mHZIgsPEZ39PkRvw/Wu7p4wW3vG"
    "7D5GyyNa19wTHmwts0OxL8OjKdO7uEFpxeh3RR5RVyEh1Ih51WTPmUn6T6h/SUCcZMzLNQ4gLC+p5CF3NHROtRe64WqI0HcdWchVAQhS41ZP"
    "DpveuHdJVQpb4rbM86AUU9sanGqOazO9RwpNqn+IQ+oMUgGg22iO8bXITQnlCSREwIjS+T966fOLFPerfdc+VQ5hUdwI0zIXHRaQHWmjr0B4"
    "hxPZ5DTUZUjsU5JLQwxTpPBX9R8RgDOgidd7Grze4+/Dhe+mKgPw3Ru5esZOZbbfgsRz3RwyGfoevvyRdNWPo48i/69j/hCDlcl+3YUrWMRr"
    "E6OG7Hgqrxo0ir4PflD73IOir+8g9c+YeP0HB0u1E4CBbuM3djCOPLf1Os4t7o3ICgu6BwuhpaB+M379pkhNt0CZENEw4GC5d2SKKyQLNcgE"
    "kwWWJ3vNWqNZa32pVapbpYMdXi7lYH60itUN1kaBlVody9q/e03v50M2ZDLxlSCL12cYc1BH/MqyIHw7LCYfUrElMEqEgGXVtQ471oemq3mk"
    "ekbbtkSHKOJjXLkOq6LA92AszNe20RHVY5KH6J7+lfZTfozw+Th1xLchEzwOYLZZ/axa5tdOQQK7pdKXuUjhdzFYJkYrp2gBRntTRnqs3JYH"
    "NsO72F5b4YUU3ski82fHIrZ+Oon5K7CINBxmP2eaZXeYzVOI4BsLcq8A0CiFiPRLF/bEEgSgPBpXPoJlb1+cLhvcc5pxv9IOYWVEMoA7RyY+"
    "lvhDIil6xuSjKcz4EPLn7fntOa7cCcari7jlxl74N8AKbewzZBjBRuopwWzHsFnblanlvTCpMEZx3+XDi+5phdCw1EQSmOp5URt/SRINQkMS"
    "WEhwM3AkIDb8Jgsagrh3BTL46dqWqfkz0d2pJ5YFlui97mMX7yIDNPKYUBhP4BeheW3AZzEYqdAMPVZF+6f+MQpz8gzlk0Brd2neROuBFY7R"
    "dz/Y0I5108Ee0x6Kli/BLf14ENzgZU6UbxxZKBHfBr9YMtgkxs9tEgtD2diosFpu1FvNxo62X/38oFovV7X9VqnJXX3SXrNaqqDvI8/LY3vV"
    "egVbvquwNrZTbjSbtUouhtY+H1BLMHl8BHNS1VLJ65cVpPrzCMzX+oZr6KbQXEAQkekzgyjNDJYg9TWzLY2jimiDlrokSdHIjGYC2zMjznlk"
    "SW3OA5B5EaL6XQTLLeICQ6co6323xE5V1puyuY+8RHMfnAWhbxji0prfuqfbX0BU63BziFbkIDdeNX9s2cLbNMGqnHhchSUO2bWtFzxheg0F"
    "TTvULyAbjBNTI71w8JuQ7+Eteth0OqblalgGmLI4IOFE1W8iZ6RF/OCzF066rfc7RocL3nNORxau5+Wg6KVyUOz8HESNweYiLDiSI6/Z/XUM"
    "Fkja1b7DekcmD7V3Ie64bCArvRthvZxBYrxhA+UNWOFsIZRpdE9czeaXcmTDk1H/FIU4waFZiWm7z6xWICPWZFMuxqfKjyElFNnTB7JHujuF"
    "DVGn7+oDkYU2AaS9chJxIlGcRkKMVkY0MF6dMewM9LZ0HPU9yARPm1bDvQ/ZEO0pGFjOZEU951WLNOtxuTI1AUuofFonZpCHut0bewEINkek"
    "D2UDZkm2jhTs2LuAoCTkKWvU0bsA1VrqbzFUiFD4GgPWCqRtdAyrJ5bjcvkKLAhTOItmCRHNuDn7tjgL6hNI+/kOSPmdYC1y7aJ7kw6K0jUa"
    "A0qmVt/hscQaaKZxZPMXjdHMlQZ3hXdgVUxo8R6OqJJlIUYvBCjBgck6smD/V0RWOk02sBwDm4XTUpfPCfjsTadf0gHH0n4Yo0h/1F+hVuhX"
    "yAg+m9DdPLgczdfQvxRuyQFjE10IRcjKevuEjfUv/4zCPIHtMjTytqN8inU+/dS87Cqk8VaYc4lQFH+91PrLKDZE/hXlc1iUBLGZ6LvGscFs"
    "OcZ7cCma8qs2wlb2YfHEcFyrixLRxNODI63rkiS3PfSGwN6eUQvYfYUPQmkdY2VuSjGrb0IujMkfxI6G7WdM2k1kMzeSoGSt8B3IYFGm986Q"
    "nfDnSVN3+XuAzO+cpI4ksUZc9BZsDAPYZ+Wv0MJ9yMrI7bUWscmvFsHxsmzifLEpTvnvlje4ESXBysQXJgw6s6MEz8FWx1p1MV2/A2lxgqC5"
    "PEbT98zxLswLWEl5ZYyyf27/COYt3zggP0+XLkwfGWDNneuILutsxpgm7BtTujGMhZ/y51TZeYywM4R9c1r1hOgfwRITGQ8rD3TCzpCnvvwC"
    "EVDPT46Iino25LsoL6SGA9lCvnHh66m/txWZdBQxk2Q+26C026EtJ58i0u+GSQujLZbb9LXlgYso9AmkpbG7etfJw+TIKUkI/2ohoED+OBAh"
    "sxfihsMfGo7g/wWlj3xusknK9Pwh5AS0NcopeWWy/H1Zp4zFJmG5Z5nF87elyU8t4zmohMUnEbFHoV6TeWZtsgmNZSa0AltGcSxi0YLy+cne"
    "Hoz1Ra/IExpy8iphrZ0TItWHsDJZydPKLMxOYdVOQ9mZktDWg0XDlTDPI2RObXMJHXTkWLLEvvOfCCRHhVAO5ltf7lW1Wv1paQe7yxn+9k8r"
    "m43GDvaoWQD6PKjVW4+wM12A9Oj73oNcLLDwwUYuHlh48GEuMaJIFGZHFAWBOf834if934ieGqFv7SE4+D4ROu37ROD50eH7rWat/jiXObvO"
    "FmJnj2bpf2o++B8mHLUK"
)


@functools.lru_cache(maxsize=1)
def model_config_class() -> type[Any]:
    """The ``inference.ModelConfig`` message class, built once in a private descriptor pool."""
    from google.protobuf import descriptor_pool, message_factory

    raw = zlib.decompress(base64.b64decode("".join(_DESCRIPTOR)))
    if hashlib.sha256(raw).hexdigest() != _SHA256:
        raise ExportError("the vendored Triton model_config schema is corrupted; reinstall acc-deploy")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(raw)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


def parse_model_config(text: str, where: str = "config.pbtxt") -> Any:
    """Parse protobuf text format into a ``ModelConfig``; one ``ExportError`` line naming ``where`` on any error."""
    from google.protobuf import text_format

    message = model_config_class()()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ExportError(f"{where} is not a valid Triton model config ({exc}); regenerate it with acc-export") from exc
    return message
