-- wrk script: each thread posts the requests of its own file (PREFIX.N) in order, one a line:
--   PATH <TAB> BODY [<TAB> HEADER <TAB> VALUE]...
-- (a JSON body holds no tab or newline), and counts its answers: any 2xx is a request taken. `done` prints one
-- JSON line for the benchmark to read, as signed_posts.lua does.
--   wrk -t T -c C -d S -s channel_posts.lua URL -- PREFIX
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  requests = {}
  local f = assert(io.open(args[1] .. "." .. id, "r"))
  for line in f:lines() do
    local fields = {}
    for field in (line .. "\t"):gmatch("(.-)\t") do fields[#fields + 1] = field end
    local headers = {}
    for i = 3, #fields - 1, 2 do headers[fields[i]] = fields[i + 1] end
    requests[#requests + 1] = wrk.format("POST", fields[1], headers, fields[2])
  end
  f:close()
  lines = #requests
  n = 0
  ok = 0
  other = 0
end
function request()
  n = n + 1
  return requests[((n - 1) % #requests) + 1]
end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local ok, other, sent, wrapped = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("ok"); other = other + t:get("other"); sent = sent + t:get("n")
    if t:get("n") > t:get("lines") then wrapped = 1 end
  end
  io.write(string.format('{"ok": %d, "other": %d, "issued": %d, "requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "errors": %d, "wrapped": %d}\n',
    ok, other, sent, summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout, wrapped))
end
