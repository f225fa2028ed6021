;;; eglot_complete.el --- Emacs with eglot asks Infill for a completion, headless  -*- lexical-binding: t -*-

;; Run by tests/test_emacs.py as `emacs --batch -Q -l eglot_complete.el'. The environment says
;; which server command to start (INFILL_CMD, a JSON list), which file to open (INFILL_FILE) and
;; where the cursor goes (INFILL_LINE, 1-based, at the end of that line). The file is opened,
;; eglot starts the server as a user's configuration would, and `completion-at-point' runs at
;; the cursor, as a user's key would. The result goes to INFILL_OUT as JSON: the line after
;; the completion, the whole text, and the seconds from opening the file to the insertion.

(require 'json)
(require 'package)
;; Debian's elpa-eglot is a system-wide package; -Q skips the site files that would say so.
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(require 'eglot)

(defun infill-test--env (name)
  (or (getenv name) (error "%s is not set" name)))

(let* ((command (append (json-read-from-string (infill-test--env "INFILL_CMD")) nil))
       (file (infill-test--env "INFILL_FILE"))
       (line (string-to-number (infill-test--env "INFILL_LINE")))
       (out (infill-test--env "INFILL_OUT"))
       (started (float-time))
       (result nil))
  (setq eglot-server-programs `((python-mode . ,command)))
  (setq jsonrpc-default-request-timeout 60)
  (find-file file)
  (python-mode)
  (apply #'eglot (eglot--guess-contact))
  (let ((deadline (+ (float-time) 60)))
    (while (and (not (eglot-current-server)) (< (float-time) deadline))
      (accept-process-output nil 0.05)))
  (unless (eglot-current-server)
    (error "eglot did not connect to the server"))
  (goto-char (point-min))
  (forward-line (1- line))
  (end-of-line)
  (let ((before (buffer-string)))
    (completion-at-point)
    (setq result
          `((line . ,(buffer-substring-no-properties (line-beginning-position) (line-end-position)))
            (text . ,(buffer-substring-no-properties (point-min) (point-max)))
            (changed . ,(if (equal before (buffer-string)) :json-false t))
            (seconds . ,(- (float-time) started)))))
  (with-temp-file out
    (insert (json-encode result)))
  (set-buffer-modified-p nil)
  (eglot-shutdown (eglot-current-server)))

;;; eglot_complete.el ends here
