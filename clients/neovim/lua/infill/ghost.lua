--- Ghost text for Neovim 0.11 (and later, with `builtin = false`): requests, rendering, accepting.
---
--- One request per buffer is live: a new keystroke cancels the one in flight (Neovim drops the
--- callback of a cancelled request, so the pending state is cleared here, not in a callback).
--- A suggestion is shown as an extmark: the first line inline at the cursor, the rest as
--- virtual lines below. Typing the characters the ghost text shows trims it in place, without
--- waiting for the server, so it never flickers. Accepting all, a word or a line tells the server
--- (`infill.accepted`, the command the server put on the item): it counts acceptances locally and
--- tunes what it shows.

local M = {}

local ns = vim.api.nvim_create_namespace("infill.ghost")
vim.api.nvim_set_hl(0, "InfillGhost", { default = true, link = "Comment" })

---@class infill.BufferState
---@field client vim.lsp.Client
---@field timer uv.uv_timer_t|nil
---@field request_id integer|nil the live request, for cancelling it
---@field live table|nil identity of the live request (Neovim 0.11 gives handlers no request id)
---@field row integer 0-based row of the shown or requested suggestion
---@field col integer byte column of the shown or requested suggestion
---@field text string|nil the suggestion shown
---@field sequence integer highest partial sequence shown
---@field id integer|nil the id of the suggestion shown, named by `infill.accepted`

---@type table<integer, infill.BufferState>
local buffers = {}
M.enabled = true
M.last_error = nil ---@type string|nil

local function cursor()
  local position = vim.api.nvim_win_get_cursor(0)
  return position[1] - 1, position[2]
end

local function clear(buf)
  vim.api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  local state = buffers[buf]
  if state then
    state.text = nil
  end
end

local function render(buf, state, text)
  vim.api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  state.text = text
  if text == "" then
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  local virt_lines = {}
  for index = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[index], "InfillGhost" } }
  end
  vim.api.nvim_buf_set_extmark(buf, ns, state.row, state.col, {
    virt_text = { { lines[1], "InfillGhost" } },
    virt_text_pos = "inline",
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
  })
end

--- Stop the request in flight for `buf`, if any.
function M.cancel(buf)
  local state = buffers[buf]
  if not state then
    return
  end
  if state.timer then
    state.timer:stop()
  end
  if state.request_id then
    state.client:cancel_request(state.request_id)
    state.request_id = nil
  end
  state.live = nil
end

local function still_at(buf, state)
  if buf ~= vim.api.nvim_get_current_buf() or vim.fn.mode() ~= "i" then
    return false
  end
  local row, col = cursor()
  return row == state.row and col == state.col
end

local function request(buf)
  local state = buffers[buf]
  if not state or not M.enabled or vim.fn.pumvisible() == 1 then
    return
  end
  M.cancel(buf)
  state.row, state.col = cursor()
  state.sequence = -1
  state.id = nil
  local params = vim.lsp.util.make_position_params(0, state.client.offset_encoding)
  params.context = { triggerKind = 2 } -- Automatic
  local live = {}
  state.live = live
  local ok, id = state.client:request("textDocument/inlineCompletion", params, function(err, result)
    if state.live ~= live then
      return -- superseded or cancelled
    end
    state.request_id, state.live = nil, nil
    if err then
      M.last_error = err.message
      return
    end
    local items = result and (result.items or result) or {}
    local item = items[1]
    if not still_at(buf, state) then
      return
    end
    local text = item and (type(item.insertText) == "table" and item.insertText.value or item.insertText) or ""
    local command = item and item.command
    state.id = command and command.arguments and command.arguments[1] and command.arguments[1].id or state.id
    render(buf, state, text)
  end, buf)
  state.request_id = ok and id or nil
  if not ok then
    state.live = nil
  end
end

--- Handler of `infill/partialCompletion`: show the suggestion while it is generated.
function M.on_partial(_, params)
  local buf = vim.uri_to_bufnr(params.textDocument.uri)
  local state = buffers[buf]
  if not state or not state.live or params.sequence <= state.sequence then
    return
  end
  if params.position.line ~= state.row or not still_at(buf, state) then
    return
  end
  state.sequence = params.sequence
  state.id = params.id ~= 0 and params.id or state.id
  if params.text ~= "" then
    render(buf, state, params.text)
  end
end

local function still_typing(buf)
  return buf == vim.api.nvim_get_current_buf() and vim.fn.mode() == "i"
end

local function schedule(buf, delay)
  local state = buffers[buf]
  state.timer = state.timer or vim.uv.new_timer()
  state.timer:stop()
  state.timer:start(delay, 0, vim.schedule_wrap(function()
    if vim.api.nvim_buf_is_valid(buf) and still_typing(buf) then
      request(buf)
    end
  end))
end

--- The user typed or moved: keep what still matches the ghost text, then ask again.
local function on_change(buf, delay)
  local state = buffers[buf]
  if not state then
    return
  end
  M.cancel(buf)
  local row, col = cursor()
  if state.text and row == state.row and col > state.col then
    local typed = vim.api.nvim_buf_get_text(buf, row, state.col, row, col, {})[1]
    if vim.startswith(state.text, typed) and #typed < #state.text then
      local rest = state.text:sub(#typed + 1)
      state.col = col
      render(buf, state, rest)
    else
      clear(buf)
    end
  elseif not (state.text and row == state.row and col == state.col) then
    clear(buf)
  end
  schedule(buf, delay)
end

--- Whether a suggestion is on screen in `buf`.
function M.visible(buf)
  local state = buffers[buf or vim.api.nvim_get_current_buf()]
  return state ~= nil and state.text ~= nil and state.text ~= ""
end

--- The part of `text` the accept action takes.
---@param text string
---@param how "all"|"word"|"line"
function M.portion(text, how)
  if how == "all" then
    return text
  end
  if how == "line" then
    local first = text:find("\n", 2, true) -- a suggestion may start on the next line
    return first and text:sub(1, first - 1) or text
  end
  local word = text:match("^%s*[%w_]+") or text:match("^%s*[^%w_%s]+") or text:match("^%s+") or text
  return word
end

--- Insert all, the next word or the next line of the suggestion; true if there was one.
---@param how "all"|"word"|"line"|nil
function M.accept(how)
  local buf = vim.api.nvim_get_current_buf()
  local state = buffers[buf]
  if not M.visible(buf) then
    return false
  end
  local text = state.text
  local part = M.portion(text, how or "all")
  if state.id then
    -- All of what is shown counts as the whole suggestion; a word or a line of it as a part.
    state.client:request("workspace/executeCommand", { command = "infill.accepted",
      arguments = { { id = state.id, chars = vim.fn.strchars(part), part = #part < #text } } }, function() end, buf)
  end
  local lines = vim.split(part, "\n", { plain = true })
  M.cancel(buf)
  clear(buf)
  vim.api.nvim_buf_set_text(buf, state.row, state.col, state.row, state.col, lines)
  local end_row = state.row + #lines - 1
  local end_col = (#lines == 1 and state.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  if #part < #text then
    state.row, state.col = end_row, end_col
    render(buf, state, text:sub(#part + 1))
  end
  return true
end

--- Hide the suggestion.
function M.dismiss()
  local buf = vim.api.nvim_get_current_buf()
  M.cancel(buf)
  clear(buf)
end

--- Start showing suggestions in `buf` from `client`.
---@param buf integer
---@param client vim.lsp.Client
---@param options infill.Options
function M.attach(buf, client, options)
  if buffers[buf] then
    return
  end
  buffers[buf] = { client = client, row = -1, col = -1, sequence = -1 }
  local group = vim.api.nvim_create_augroup("infill.ghost." .. buf, { clear = true })
  vim.api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, {
    group = group, buffer = buf,
    callback = function() on_change(buf, options.debounce_ms) end,
  })
  vim.api.nvim_create_autocmd("InsertEnter", {
    group = group, buffer = buf,
    callback = function() schedule(buf, options.debounce_ms) end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave", "CompleteChanged" }, {
    group = group, buffer = buf,
    callback = function() M.cancel(buf); clear(buf) end,
  })
  vim.api.nvim_create_autocmd("BufWipeout", {
    group = group, buffer = buf,
    callback = function() M.detach(buf) end,
  })
  if still_typing(buf) then
    schedule(buf, 0) -- attached while already in Insert mode: ask now
  end
end

--- Stop showing suggestions in `buf`.
function M.detach(buf)
  M.cancel(buf)
  local state = buffers[buf]
  if state and state.timer then
    state.timer:close()
  end
  buffers[buf] = nil
  pcall(vim.api.nvim_buf_clear_namespace, buf, ns, 0, -1)
  pcall(vim.api.nvim_del_augroup_by_name, "infill.ghost." .. buf)
end

--- Whether a request is in flight for `buf` (for tests and :Infill status).
function M.pending(buf)
  local state = buffers[buf or vim.api.nvim_get_current_buf()]
  return state ~= nil and state.live ~= nil
end

M.namespace = ns
return M
