"""A town laid out as a 5 x 5 grid of 1 km squares, each community's group named in the file,
so load tests need no /link round."""

from __future__ import annotations


def grid(groups: list[int]) -> dict[str, object]:
    """The communities file (GeoJSON) for these groups, one square each, in order."""
    features = []
    for index, chat_id in enumerate(groups):
        row, col = divmod(index, 5)
        lat, lon = 30.0 + row * 0.01, 120.0 + col * 0.01
        ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01]]
        features.append(
            {
                "type": "Feature",
                "properties": {"id": f"c{index:02}", "name": f"第{index}社区", "chat_id": chat_id},
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def centre(index: int) -> tuple[float, float]:
    """A point inside community `index`."""
    row, col = divmod(index, 5)
    return 30.005 + row * 0.01, 120.005 + col * 0.01
