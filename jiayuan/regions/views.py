from django.http import HttpResponse


def _todo(request, *a, **k):
    return HttpResponse("")


grid_map = grid_geojson = grid_card = region_list = building_list = building_board = _todo
building_qr = building_public = household_list = household_detail = resident_list = _todo
resident_detail = resident_reveal = export_list = _todo
