// Drives a reference server running `--revision 2026-07-10` (the merged MSC4140 text) with
// matrix-js-sdk 43.0.0 and its MatrixRTC membership manager.
// Usage: ./run.sh 2026-07-10   (or: npm install && node check-43.mjs http://127.0.0.1:8008)
// Exits non-zero at the first step that does not behave as the merged text says.
import { check, register, say, sleep, startSynced, step, waitFor } from "./common.mjs";

// matrix-js-sdk 43 asks for Node 22 for one API, Promise.withResolvers; this shim lets Node 20 run it.
Promise.withResolvers ??= function () {
  let resolve, reject;
  const promise = new this((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};
const sdk = await import("matrix-js-sdk-43");
// The SDK logs every request and membership step; SDK_LOG=1 shows them.
if (!process.env.SDK_LOG) for (const k of ["log", "info", "debug", "warn", "error", "trace"]) console[k] = () => {};
const { MatrixRTCSessionEvent } = await import("matrix-js-sdk-43/lib/matrixrtc/index.js");

const baseUrl = process.argv[2] ?? "http://127.0.0.1:8008";
const started = Date.now();
process.on("unhandledRejection", (e) => {
  process.stderr.write(`FAIL - unexpected error: ${e?.httpStatus ?? ""} ${e?.errcode ?? ""} ${e?.message ?? e}\n`);
  process.exit(1);
});
async function refused(promise, status, errcode, what) {
  try {
    await promise;
  } catch (e) {
    return check(e.httpStatus === status && (!errcode || e.errcode === errcode), `${what} (got ${e.httpStatus} ${e.errcode})`);
  }
  check(false, `${what} (it succeeded)`);
}
// Every request the SDK makes, as "METHOD /path", to show which endpoint answered (no silent
// fallback). Both authenticated and plain requests go through requestOtherUrl.
function recordPaths(client) {
  const seen = [];
  const send = client.http.requestOtherUrl.bind(client.http);
  client.http.requestOtherUrl = (method, url, ...rest) => (seen.push(`${method} ${new URL(url).pathname}`), send(method, url, ...rest));
  return seen;
}
const actionPath = (id, action) => `POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/${encodeURIComponent(id)}${action ? `/${action}` : ""}`;


const alice = await register(sdk, baseUrl, "alice");
const bob = await register(sdk, baseUrl, "bob");
const paths = recordPaths(alice);

// Discovery (SRV-1, CAP-1).
const versions = await alice.getVersions();
check(versions.unstable_features?.["org.matrix.msc4140"] === true, "versions: org.matrix.msc4140");
check(versions.unstable_features?.["org.matrix.msc4140.stable"] === true, "versions: org.matrix.msc4140.stable");
const caps = await alice.getCapabilities();
check(typeof caps["m.delayed_events"] === "object", `capabilities: m.delayed_events ${JSON.stringify(caps["m.delayed_events"])}`);

const { room_id: roomId } = await alice.createRoom({
  name: "call",
  preset: "public_chat",
  power_level_content_override: { events: { "org.matrix.msc3401.call.member": 0 } },
});
await bob.joinRoom(roomId);
await startSynced(sdk, alice);
await startSynced(sdk, bob);
step(`room ${roomId}, both members syncing`);

// Scheduling through the SDK: the legacy query parameter, a deprecated alias in this revision (SCH-20).
const type = "org.matrix.msc3401.call.member";
const key = `_${alice.getUserId()}_PLAIN`;
const { delay_id: hangup } = await alice._unstable_sendDelayedStateEvent(roomId, { delay: 1500 }, type, {}, key);
check(typeof hangup === "string", `scheduled a delayed state event: ${hangup}`);
let one = await alice._unstable_getDelayedEvent(hangup);
check(
  one.delay_id === hangup && one.delay_ms === 1500 && one.state_key === key && !("finalised_ts" in one) && typeof one.scheduled_at === "number",
  "single lookup of a scheduled event: delay_ms, scheduled_at, no finalised_ts (LKP-2/3)",
);
const list = await alice._unstable_getDelayedEvents();
check(list.delayed_events?.some((d) => d.delay_id === hangup), "the list holds the scheduled event (LKP-4)");

// Per-action heartbeats (MGT-11): restart through POST .../{id}/restart with no body.
const firstScheduledAt = one.scheduled_at;
for (let i = 0; i < 4; i++) {
  await sleep(600);
  await alice._unstable_restartScheduledDelayedEvent(hangup);
}
check(paths.filter((p) => p === actionPath(hangup, "restart")).length === 4, "the 4 restarts went through the per-action path");
check(!paths.includes(actionPath(hangup)), "no fallback to the action-in-body endpoint");
one = await alice._unstable_getDelayedEvent(hangup);
check(one.scheduled_at > firstScheduledAt && !("finalised_ts" in one), "restarts moved scheduled_at; still scheduled after 2.4 s > 1.5 s");
check(
  await waitFor(() => bob.getRoom(roomId)?.currentState.getStateEvents(type, key)),
  "after the heartbeats stop, bob's sync receives the hang-up",
);
one = await alice._unstable_getDelayedEvent(hangup);
check(
  typeof one.event_id === "string" && one.finalised_ts >= one.scheduled_at + one.delay_ms,
  "single lookup of the finalised event: event_id, finalised_ts at or after its send time (sent by the timer)",
);
await refused(alice._unstable_restartScheduledDelayedEvent(hangup), 409, "M_UNKNOWN", "restart after sending: 409 M_UNKNOWN (MGT-13)");
await refused(alice._unstable_cancelScheduledDelayedEvent(hangup), 409, "M_UNKNOWN", "cancel after sending: 409 M_UNKNOWN (MGT-13)");
await alice._unstable_sendScheduledDelayedEvent(hangup);
step("send after sending: 200 (MGT-12)");

// Messages: send now, cancel, and the sender's unsigned.delay_id (SRV-14).
const { delay_id: later } = await alice._unstable_sendDelayedEvent(roomId, { delay: 60000 }, null, "m.room.message", { msgtype: "m.text", body: "later" });
await alice._unstable_sendScheduledDelayedEvent(later);
const sentLater = (c) => c.getRoom(roomId)?.getLiveTimeline().getEvents().find((e) => e.getContent().body === "later");
check(await waitFor(() => sentLater(bob)), "the send action delivered the message to bob");
check(await waitFor(() => sentLater(alice)?.getUnsigned()?.delay_id === later), "alice's sync shows unsigned.delay_id on her event");
check(sentLater(bob).getUnsigned()?.delay_id === undefined, "bob's sync does not");
one = await alice._unstable_getDelayedEvent(later);
check(one.finalised_ts < one.scheduled_at + one.delay_ms && one.event_id === sentLater(bob).getId(), "the record says sent early, with the event id bob saw");
const { delay_id: never } = await alice._unstable_sendDelayedEvent(roomId, { delay: 300 }, null, "m.room.message", { msgtype: "m.text", body: "never" });
await alice._unstable_cancelScheduledDelayedEvent(never);
await alice._unstable_cancelScheduledDelayedEvent(never);
step("cancel twice: 200 both times (MGT-12)");
await refused(alice._unstable_sendScheduledDelayedEvent(never), 409, "M_UNKNOWN", "send after cancel: 409 (MGT-13)");
await sleep(700);
check(!bob.getRoom(roomId).getLiveTimeline().getEvents().some((e) => e.getContent().body === "never"), "a cancelled message is never sent");
one = await alice._unstable_getDelayedEvent(never);
check(typeof one.finalised_ts === "number" && !("event_id" in one) && !("error" in one), "the cancelled record: finalised_ts, no event_id, no error (LKP-3)");
await refused(bob._unstable_cancelScheduledDelayedEvent(later), 404, "M_NOT_FOUND", "bob managing alice's event: 404 M_NOT_FOUND (MGT-14)");
await refused(bob._unstable_getDelayedEvent(later), 404, "M_NOT_FOUND", "bob looking up alice's event: 404 M_NOT_FOUND (LKP-1)");

// Guests may use every delayed-event endpoint (SCH-21).
const anon = sdk.createClient({ baseUrl });
const g = await anon.registerGuest({ body: {} });
const guest = sdk.createClient({ baseUrl, accessToken: g.access_token, userId: g.user_id, deviceId: g.device_id });
await guest.joinRoom(roomId);
const { delay_id: gid } = await guest._unstable_sendDelayedEvent(roomId, { delay: 60000 }, null, "m.room.message", { msgtype: "m.text", body: "guest" });
await guest._unstable_restartScheduledDelayedEvent(gid);
check((await guest._unstable_getDelayedEvent(gid)).delay_id === gid, "a guest schedules, restarts and looks up");
await guest._unstable_cancelScheduledDelayedEvent(gid);

// MatrixRTC: join, heartbeats, a frozen client left by the server, an explicit leave.
const joinConfig = { delayedLeaveEventDelayMs: 2000, delayedLeaveEventRestartMs: 500, membershipEventExpiryMs: 3600000 };
const transport = { type: "livekit", livekit_service_url: "https://livekit.invalid", livekit_alias: roomId };
const rtcOf = (c) => c.matrixRTC.getRoomSession(c.getRoom(roomId));
const bobSees = (user) => rtcOf(bob).memberships.some((m) => m.sender === user);

async function joinCall(client) {
  const rtc = rtcOf(client);
  const joined = new Promise((resolve) => rtc.on(MatrixRTCSessionEvent.JoinStateChanged, (j) => j && resolve()));
  rtc.joinRoomSession([transport], undefined, joinConfig);
  await joined;
  check(await waitFor(() => rtc.delayId), `${client.getUserId()} joined the call with a delayed leave ${rtc.delayId}`);
  check(await waitFor(() => bobSees(client.getUserId())), "bob sees the membership");
  return rtc;
}

const aliceRtc = await joinCall(alice);
const leaveId = aliceRtc.delayId;
const restartsBefore = paths.filter((p) => p === actionPath(leaveId, "restart")).length;
await sleep(4000);
const restarts = paths.filter((p) => p === actionPath(leaveId, "restart")).length - restartsBefore;
check(restarts >= 6, `the membership manager sent ${restarts} per-action restarts in 4 s`);
check(bobSees(alice.getUserId()) && !("finalised_ts" in (await alice._unstable_getDelayedEvent(leaveId))), "after 4 s > 2 s the membership holds: heartbeats work");

// Freeze alice: her requests never reach the server any more (a hung tab, a dead network).
const frozenAt = Date.now();
alice.http.requestOtherUrl = () => new Promise(() => {});
check(await waitFor(() => !bobSees(alice.getUserId()), 10000), `the server left the frozen client's call (bob saw it after ${Date.now() - frozenAt} ms)`);
const observer = sdk.createClient({ baseUrl, accessToken: alice.getAccessToken(), userId: alice.getUserId(), deviceId: alice.getDeviceId() });
one = await observer._unstable_getDelayedEvent(leaveId);
check(
  typeof one.event_id === "string" && one.finalised_ts >= one.scheduled_at + one.delay_ms,
  "the record says the timer sent the leave event (finalised_ts >= scheduled_at + delay_ms)",
);
await aliceRtc.stop().catch(() => {});
alice.stopClient();

// Bob joins and leaves: the leave is the delayed event sent through the `send` action.
const bobRtc = await joinCall(bob);
const bobLeaveId = bobRtc.delayId;
await sleep(1200);
check(await bobRtc.leaveRoomSession(5000), "bob left the call");
check(await waitFor(() => !bobSees(bob.getUserId())), "bob's membership is gone");
one = await bob._unstable_getDelayedEvent(bobLeaveId);
check(
  typeof one.event_id === "string" && one.finalised_ts < one.scheduled_at + one.delay_ms,
  "bob's leave is his delayed event, sent early by the send action",
);

bob.stopClient();
say(`matrix-js-sdk 43.0.0 check passed in ${Date.now() - started} ms`);
process.exit(0);
