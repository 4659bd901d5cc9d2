"""The ZTF alert schema 4.02, written down from the writer schema that real 4.02
packets carry in their container headers (field names, Avro types and order).

Only what decoding needs is kept: names, types, order, nullability and the
``version`` attribute the decoder reads (``ZtfSchemaInfo``). A field is written
``name:T`` where ``T`` is one of ``d`` (double), ``f`` (float), ``i`` (int),
``l`` (long), ``s`` (string), ``b`` (bytes); ``?T`` is ``["null", T]`` with a null
default, ``^T`` is ``["null", T]`` without a default (a few history fields are
declared that way in the real schema).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import fastavro

from boom_flow.simulate.schemas.ztf_docs import DOCS

VERSION = "4.02"
NAMESPACE = "ztf.alert"
_TYPES = {"d": "double", "f": "float", "i": "int", "l": "long", "s": "string", "b": "bytes"}

CANDIDATE = """
jd:d fid:i pid:l diffmaglim:?f pdiffimfilename:?s programpi:?s programid:i candid:l
isdiffpos:s tblid:?l nid:?i rcid:?i field:?i xpos:?f ypos:?f ra:d dec:d magpsf:f sigmapsf:f
chipsf:?f magap:?f sigmagap:?f distnr:?f magnr:?f sigmagnr:?f chinr:?f sharpnr:?f sky:?f
magdiff:?f fwhm:?f classtar:?f mindtoedge:?f magfromlim:?f seeratio:?f aimage:?f bimage:?f
aimagerat:?f bimagerat:?f elong:?f nneg:?i nbad:?i rb:?f ssdistnr:?f ssmagnr:?f ssnamenr:?s
sumrat:?f magapbig:?f sigmagapbig:?f ranr:d decnr:d sgmag1:?f srmag1:?f simag1:?f szmag1:?f
sgscore1:?f distpsnr1:?f ndethist:i ncovhist:i jdstarthist:?d jdendhist:?d scorr:?d tooflag:?i
objectidps1:?l objectidps2:?l sgmag2:?f srmag2:?f simag2:?f szmag2:?f sgscore2:?f distpsnr2:?f
objectidps3:?l sgmag3:?f srmag3:?f simag3:?f szmag3:?f sgscore3:?f distpsnr3:?f nmtchps:i
rfid:l jdstartref:d jdendref:d nframesref:i rbversion:s dsnrms:?f ssnrms:?f dsdiff:?f
magzpsci:?f magzpsciunc:?f magzpscirms:?f nmatches:i clrcoeff:?f clrcounc:?f zpclrcov:?f
zpmed:?f clrmed:?f clrrms:?f neargaia:?f neargaiabright:?f maggaia:?f maggaiabright:?f
exptime:?f drb:?f drbversion:s
"""

PRV_CANDIDATE = """
jd:d fid:i pid:l diffmaglim:?f pdiffimfilename:?s programpi:?s programid:i candid:^l
isdiffpos:^s tblid:?l nid:?i rcid:?i field:?i xpos:?f ypos:?f ra:^d dec:^d magpsf:^f
sigmapsf:^f chipsf:?f magap:?f sigmagap:?f distnr:?f magnr:?f sigmagnr:?f chinr:?f sharpnr:?f
sky:?f magdiff:?f fwhm:?f classtar:?f mindtoedge:?f magfromlim:?f seeratio:?f aimage:?f
bimage:?f aimagerat:?f bimagerat:?f elong:?f nneg:?i nbad:?i rb:?f ssdistnr:?f ssmagnr:?f
ssnamenr:?s sumrat:?f magapbig:?f sigmagapbig:?f ranr:^d decnr:^d scorr:?d magzpsci:?f
magzpsciunc:?f magzpscirms:?f clrcoeff:?f clrcounc:?f rbversion:s
"""

FP_HIST = """
field:?i rcid:?i fid:i pid:l rfid:l sciinpseeing:?f scibckgnd:?f scisigpix:?f magzpsci:?f
magzpsciunc:?f magzpscirms:?f clrcoeff:?f clrcounc:?f exptime:?f adpctdif1:?f adpctdif2:?f
diffmaglim:?f programid:i jd:d forcediffimflux:?f forcediffimfluxunc:?f procstatus:?s
distnr:?f ranr:d decnr:d magnr:?f sigmagnr:?f chinr:?f sharpnr:?f
"""

CUTOUT = "fileName:s stampData:b"

ALERT_HEAD = "schemavsn:s publisher:s objectId:s candid:l"
CUTOUT_FIELDS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")


def field_names(spec: str) -> tuple[str, ...]:
    """The field names of a compact field list, in order."""
    return tuple(item.split(":")[0] for item in spec.split())


def _fields(spec: str) -> list[dict[str, Any]]:
    fields = []
    for item in spec.split():
        name, code = item.split(":")
        if code[0] in "?^":
            field: dict[str, Any] = {"name": name, "type": ["null", _TYPES[code[1]]]}
            if code[0] == "?":
                field["default"] = None
        else:
            field = {"name": name, "type": _TYPES[code]}
        if name in DOCS:
            field["doc"] = DOCS[name]
        fields.append(field)
    return fields


def _record(name: str, spec: str) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": NAMESPACE, "version": VERSION,
            "fields": _fields(spec)}


def _field(name: str, field_type: Any, nullable: bool = True) -> dict[str, Any]:
    field = {"name": name, "type": ["null", field_type] if nullable else field_type}
    if nullable:
        field["default"] = None
    return {**field, "doc": DOCS[name]}


def alert_schema() -> dict[str, Any]:
    """The 4.02 alert schema as a JSON-able dict (what goes into container headers)."""
    fields = _fields(ALERT_HEAD)
    fields.append(_field("candidate", _record("candidate", CANDIDATE), nullable=False))
    for name, record, spec in (("prv_candidates", "prv_candidate", PRV_CANDIDATE),
                               ("fp_hists", "fp_hist", FP_HIST)):
        fields.append(_field(name, {"type": "array", "items": _record(record, spec)}))
    fields.append(_field(CUTOUT_FIELDS[0], _record("cutout", CUTOUT)))
    fields.extend(_field(name, f"{NAMESPACE}.cutout") for name in CUTOUT_FIELDS[1:])
    return {"type": "record", "name": "alert", "namespace": "ztf", "version": VERSION,
            "doc": "ZTF alert packet, schema 4.02 (written by the boom_flow simulator)",
            "fields": fields}


@cache
def schema_json() -> bytes:
    """The schema text for container headers, built once."""
    return json.dumps(alert_schema()).encode()


@cache
def parsed_schema() -> Any:
    """The schema parsed by fastavro once (the writer compiles against it)."""
    return fastavro.parse_schema(alert_schema())
