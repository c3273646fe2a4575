/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* org.iovad1.Device's Delegate, OpenDelegated and Undelegate (docs/api.md); userdata the SysfsDevice. */
int device_method_delegate(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int device_method_open_delegated(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int device_method_undelegate(sd_bus_message *msg, void *userdata, sd_bus_error *error);
