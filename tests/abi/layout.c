/* Prints the C layout of every public struct of <zttp/zttp.h>, as the
 * compiler lays it out, for tests/abi/ctypes_h1.py to compare with its ctypes
 * descriptions:
 *   S <type> <sizeof> <alignof>
 *   F <type> <member> <offsetof> <sizeof member>
 * SPDX-License-Identifier: MIT */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>

#include <zttp/zttp.h>

#define S(t) printf("S %s %zu %zu\n", #t, sizeof(t), alignof(t))
#define F(t, m)                                                                \
  printf("F %s %s %zu %zu\n", #t, #m, offsetof(t, m), sizeof(((t *)0)->m))

/* The anonymous union of zttp_event, named for the listing. */
typedef __typeof__(((zttp_event *)0)->u) zttp_event_union;

int main(void) {
  S(zttp_str);
  F(zttp_str, base);
  F(zttp_str, len);

  S(zttp_header);
  F(zttp_header, name);
  F(zttp_header, name_len);
  F(zttp_header, value);
  F(zttp_header, value_len);
  F(zttp_header, flags);
  F(zttp_header, reserved);

  S(zttp_path);
  F(zttp_path, local);
  F(zttp_path, local_len);
  F(zttp_path, remote);
  F(zttp_path, remote_len);

  S(zttp_allocator);
  F(zttp_allocator, malloc);
  F(zttp_allocator, realloc);
  F(zttp_allocator, free);
  F(zttp_allocator, user);

  S(zttp_request_event);
  F(zttp_request_event, method);
  F(zttp_request_event, target);
  F(zttp_request_event, path);
  F(zttp_request_event, query);
  F(zttp_request_event, authority);
  F(zttp_request_event, scheme);
  F(zttp_request_event, protocol);
  F(zttp_request_event, headers);
  F(zttp_request_event, num_headers);
  F(zttp_request_event, http_version);
  F(zttp_request_event, reserved);

  S(zttp_response_event);
  F(zttp_response_event, status);
  F(zttp_response_event, http_version);
  F(zttp_response_event, reason);
  F(zttp_response_event, headers);
  F(zttp_response_event, num_headers);

  S(zttp_data_event);
  F(zttp_data_event, data);
  F(zttp_data_event, len);

  S(zttp_end_event);
  F(zttp_end_event, trailers);
  F(zttp_end_event, num_trailers);

  S(zttp_closed_event);
  F(zttp_closed_event, error);
  F(zttp_closed_event, reserved);
  F(zttp_closed_event, wire_error_code);
  F(zttp_closed_event, reason);

  S(zttp_reset_event);
  F(zttp_reset_event, error_code);

  S(zttp_goaway_event);
  F(zttp_goaway_event, last_stream_id);
  F(zttp_goaway_event, error_code);
  F(zttp_goaway_event, debug_data);

  S(zttp_setting);
  F(zttp_setting, id);
  F(zttp_setting, value);

  S(zttp_settings_event);
  F(zttp_settings_event, settings);
  F(zttp_settings_event, num_settings);

  S(zttp_ping_event);
  F(zttp_ping_event, opaque_data);

  S(zttp_window_event);
  F(zttp_window_event, available);

  S(zttp_path_event);
  F(zttp_path_event, path);
  F(zttp_path_event, validated);
  F(zttp_path_event, reserved);
  S(zttp_priority_event);
  F(zttp_priority_event, urgency);
  F(zttp_priority_event, incremental);

  S(zttp_event_union);
  F(zttp_event_union, request);
  F(zttp_event_union, response);
  F(zttp_event_union, data);
  F(zttp_event_union, end);
  F(zttp_event_union, closed);
  F(zttp_event_union, reset);
  F(zttp_event_union, goaway);
  F(zttp_event_union, settings);
  F(zttp_event_union, ping);
  F(zttp_event_union, window);
  F(zttp_event_union, path);
  F(zttp_event_union, priority);
  F(zttp_event_union, reserved);

  S(zttp_event);
  F(zttp_event, kind);
  F(zttp_event, flags);
  F(zttp_event, stream_id);
  F(zttp_event, u);
  return 0;
}
