--- Infill for Neovim: starts `infill-lsp` for file buffers and shows its suggestions as ghost text.
---
--- On Neovim 0.12+ the built-in `vim.lsp.inline_completion` renders and accepts suggestions;
--- on 0.11 (or with `builtin = false`) the plugin's own renderer in `infill.ghost` does, with
--- streaming, accept word/line and stale-request cancellation.
---
---     require("infill").setup({ settings = { context = { maxTokens = 2048 } } })

local config = require("infill.config")
local ghost = require("infill.ghost")

local M = {}

---@type infill.Options|nil
M.options = nil
M.last_message = nil ---@type string|nil
local NAME = "infill"

--- Whether Neovim's own inline completion is used.
function M.uses_builtin()
  return M.options ~= nil and M.options.builtin and vim.lsp.inline_completion ~= nil
end

local function wanted(buf)
  if vim.bo[buf].buftype ~= "" or vim.api.nvim_buf_get_name(buf) == "" then
    return false
  end
  local filetypes = M.options.filetypes
  return filetypes == nil or vim.tbl_contains(filetypes, vim.bo[buf].filetype)
end

--- The running Infill client, if any.
---@return vim.lsp.Client|nil
function M.client()
  return vim.lsp.get_clients({ name = NAME })[1]
end

--- The settings as JSON wants them: an empty table must go out as an object, not a list.
function M.wire_settings()
  return next(M.options.settings) == nil and vim.empty_dict() or M.options.settings
end

local function start(buf)
  if not wanted(buf) then
    return
  end
  local options = M.options
  local streaming = options.streaming and not M.uses_builtin()
  vim.lsp.start({
    name = NAME,
    cmd = options.cmd,
    root_dir = vim.fs.root(buf, options.root_markers) or vim.fn.getcwd(),
    init_options = M.wire_settings(),
    settings = { infill = M.wire_settings() },
    capabilities = vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(), {
      -- This plugin shows inline completions itself: said here, the server offers no popup item.
      textDocument = { inlineCompletion = { dynamicRegistration = false } },
      experimental = { infill = { partialCompletion = streaming } },
    }),
    handlers = {
      ["infill/partialCompletion"] = ghost.on_partial,
      ["window/showMessage"] = function(err, result, ctx)
        M.last_message = result and result.message or nil
        return vim.lsp.handlers["window/showMessage"](err, result, ctx)
      end,
    },
  }, { bufnr = buf })
end

local function fallback(key)
  -- Not ours to handle: behave as if the key were not mapped by this plugin.
  vim.api.nvim_feedkeys(vim.keycode(key), "n", false)
end

local function map_keys(buf)
  local keys = M.options.keymaps
  local actions = {
    accept = function() return M.accept("all") end,
    accept_word = function() return M.accept("word") end,
    accept_line = function() return M.accept("line") end,
    dismiss = function() return M.dismiss() end,
  }
  for name, key in pairs(keys) do
    if key then
      vim.keymap.set("i", key, function()
        -- A visible popup menu belongs to the completion plugin that opened it.
        if vim.fn.pumvisible() == 1 or not actions[name]() then
          fallback(key)
        end
      end, { buffer = buf, desc = "Infill: " .. name:gsub("_", " ") })
    end
  end
end

--- Tell the server where the cursor rests (`infill/warm`), so that it evaluates the prompt there
--- before the first keystroke, as on entering a buffer.
local function warm(buf, client)
  local win = vim.api.nvim_get_current_win()
  if vim.api.nvim_win_get_buf(win) ~= buf or not ghost.enabled then
    return
  end
  client:notify("infill/warm", vim.lsp.util.make_position_params(win, client.offset_encoding))
end

local function on_attach(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if not client or client.name ~= NAME then
    return
  end
  vim.api.nvim_create_autocmd({ "BufEnter", "CursorHold" }, {
    group = vim.api.nvim_create_augroup("infill_warm_" .. args.buf, { clear = true }),
    buffer = args.buf,
    callback = function() warm(args.buf, client) end,
  })
  warm(args.buf, client)
  if M.uses_builtin() then
    vim.lsp.inline_completion.enable(true, { bufnr = args.buf })
  else
    ghost.attach(args.buf, client, M.options)
  end
  map_keys(args.buf)
end

--- Accept the suggestion (all, or the next word or line); false when none is shown.
---@param how "all"|"word"|"line"|nil
function M.accept(how)
  if M.uses_builtin() then
    if how == nil or how == "all" then
      return vim.lsp.inline_completion.get() ~= false
    end
    return false -- the built-in client accepts whole suggestions only
  end
  return ghost.accept(how)
end

--- Hide the suggestion on screen; false when none is shown.
function M.dismiss()
  if M.uses_builtin() then
    return false
  end
  if not ghost.visible() then
    return false
  end
  ghost.dismiss()
  return true
end

--- Turn suggestions on or off everywhere.
function M.toggle()
  ghost.enabled = not ghost.enabled
  if M.uses_builtin() then
    vim.lsp.inline_completion.enable(ghost.enabled)
  elseif not ghost.enabled then
    ghost.dismiss()
  end
  vim.notify("Infill: suggestions " .. (ghost.enabled and "on" or "off"))
end

--- The server's `infill/status` answer, or nil and why not.
---@return table|nil, string|nil
function M.server_status()
  local client = M.client()
  if not client then
    return nil, "no server is running" .. (M.last_message and (" (" .. M.last_message .. ")") or "")
  end
  local response, err = client:request_sync("infill/status", vim.empty_dict(), 5000)
  if not response or response.err then
    return nil, "the server did not answer: " .. tostring(err or response.err.message)
  end
  return response.result, nil
end

--- Runs a catalog command of the server's executable (`models`, `pull NAME`) without blocking
--- the editor, and shows what it printed.
---@param args string[]
---@param on_done fun(code: integer, text: string)|nil
function M.catalog(args, on_done)
  local command = vim.list_extend(vim.deepcopy(M.options.cmd), args)
  vim.notify("Infill: " .. table.concat(args, " ") .. "…")
  vim.system(command, { text = true }, vim.schedule_wrap(function(result)
    local text = vim.trim(result.code == 0 and result.stdout or result.stderr)
    vim.notify("Infill: " .. text, result.code == 0 and vim.log.levels.INFO or vim.log.levels.ERROR)
    if on_done then
      on_done(result.code, text)
    end
  end))
end

--- One line for :Infill status.
function M.status_line()
  local status, problem = M.server_status()
  if not status then
    return "Infill: " .. problem
  end
  if not status.loaded then
    return "Infill: no model: " .. (status.error or "still loading")
  end
  if status.error ~= nil and status.error ~= vim.NIL then
    return "Infill: " .. status.error
  end
  local remote = (status.engine and status.engine ~= vim.NIL and status.engine ~= "in-process")
    and (" on " .. status.engine) or ""
  return ("Infill %s: %s%s, %s%s, %d files indexed%s"):format(status.version, vim.fs.basename(status.model or "?"),
    remote, status.mode or "?", ghost.enabled and "" or " (off)", status.indexedFiles or 0,
    status.indexing and " (indexing)" or "")
end

--- Configure the plugin; calling it again replaces the options (idempotent).
---@param user infill.Options|table|nil
function M.setup(user)
  M.options = config.resolve(user)
  local group = vim.api.nvim_create_augroup("infill", { clear = true })
  vim.api.nvim_create_autocmd("FileType", { group = group, callback = function(args) start(args.buf) end })
  vim.api.nvim_create_autocmd("LspAttach", { group = group, callback = on_attach })
  local client = M.client()
  if client then
    client:notify("workspace/didChangeConfiguration", { settings = { infill = M.wire_settings() } })
  end
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].filetype ~= "" then
      start(buf)
    end
  end
end

return M
