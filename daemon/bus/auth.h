/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Authorization of privileged calls: root may, everyone else may if polkit
 * says so. polkit is asked asynchronously, as systemd's
 * bus_verify_polkit_async() does, so a slow or stuck polkit delays only
 * the call that waits for it: the handler returns while the question is
 * out, and once polkit answers the same message is dispatched again and
 * finds the answer here.
 *
 * The subject is the caller's bus name (system-bus-name); interaction is
 * allowed when the caller set ALLOW_INTERACTIVE_AUTHORIZATION on the call;
 * details carry what the call is about (the container, the device).
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

typedef struct Auth Auth;

/* @polkit false: only root is ever authorized, polkit is never asked. */
int auth_new(sd_bus *bus, bool polkit, const char *polkit_name, Auth **ret);
Auth *auth_free(Auth *a);

/**
 * auth_check() - may the sender of @m, whose uid is @uid, do @action?
 * @details: NULL or a NULL-terminated list of key, value pairs for polkit.
 * Returns 1 when it may; 0 when the answer is not known yet: the handler
 * must return 1 without replying, and @m will be dispatched again once
 * polkit has answered; -EACCES with AccessDenied in @error when it may
 * not; another negative errno on failure.
 */
int auth_check(Auth *a, sd_bus_message *m, uid_t uid, const char *action, const char *const *details,
               sd_bus_error *error);
