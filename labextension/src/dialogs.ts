/**
 * The questions the sidebar asks before it restores, deletes or saves.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { defaultRestoreFolder, IRestoreOptions } from './model';

/** The body of the restore dialog: where to restore, and whether to merge. */
export class RestoreBody
  extends Widget
  implements Dialog.IBodyWidget<IRestoreOptions>
{
  /**
   * @param projectPath - the project folder, relative to the server root
   * @param name - the checkpoint to restore
   * @param trans - the translation bundle
   */
  constructor(projectPath: string, name: string, trans: TranslationBundle) {
    super({ node: document.createElement('form') });
    this.addClass('jp-JellycellRestore');
    const sibling = defaultRestoreFolder(projectPath, name);

    const intro = document.createElement('p');
    intro.textContent = trans.__(
      'Checkpoint %1 is restored into a folder; the project itself is never changed.',
      name
    );

    this._siblingChoice = radio('jellycell-restore-target', 'sibling', true);
    const siblingLabel = label(
      this._siblingChoice,
      trans.__('New folder next to the project: %1', '/' + sibling)
    );

    this._customChoice = radio('jellycell-restore-target', 'custom', false);
    const customLabel = label(
      this._customChoice,
      trans.__('Another folder inside the server root:')
    );

    this._folder = document.createElement('input');
    this._folder.type = 'text';
    this._folder.className = 'jp-mod-styled jp-JellycellRestore-folder';
    this._folder.placeholder = sibling;
    this._folder.setAttribute('aria-label', trans.__('Restore target folder'));
    this._folder.disabled = true;

    this._force = document.createElement('input');
    this._force.type = 'checkbox';
    this._force.className = 'jp-JellycellRestore-force';
    const forceLabel = label(
      this._force,
      trans.__('Restore into the folder even if it is not empty')
    );

    this._warning = document.createElement('p');
    this._warning.className = 'jp-JellycellRestore-warning';
    this._warning.setAttribute('role', 'alert');
    this._warning.hidden = true;

    const update = (): void => {
      const custom = this._customChoice.checked;
      this._folder.disabled = !custom;
      this._force.disabled = !custom;
      if (!custom) {
        this._force.checked = false;
      }
      const target = this._folder.value.trim() || sibling;
      this._warning.hidden = !this._force.checked;
      this._warning.textContent = trans.__(
        'Files in /%1 that the checkpoint also holds will be overwritten with their checkpointed versions; other files there are kept.',
        target.replace(/^\/+/, '')
      );
    };
    for (const input of [
      this._siblingChoice,
      this._customChoice,
      this._force
    ]) {
      input.addEventListener('change', update);
    }
    this._folder.addEventListener('input', update);
    this.node.addEventListener('submit', event => event.preventDefault());

    this.node.append(
      intro,
      siblingLabel,
      customLabel,
      this._folder,
      forceLabel,
      this._warning
    );
    update();
  }

  /** Where and how to restore, as chosen. */
  getValue(): IRestoreOptions {
    if (!this._customChoice.checked) {
      return {};
    }
    return {
      into: this._folder.value.trim().replace(/^\/+/, '') || undefined,
      force: this._force.checked
    };
  }

  private _siblingChoice: HTMLInputElement;
  private _customChoice: HTMLInputElement;
  private _folder: HTMLInputElement;
  private _force: HTMLInputElement;
  private _warning: HTMLParagraphElement;
}

function radio(
  name: string,
  value: string,
  checked: boolean
): HTMLInputElement {
  const input = document.createElement('input');
  input.type = 'radio';
  input.name = name;
  input.value = value;
  input.checked = checked;
  return input;
}

function label(input: HTMLInputElement, text: string): HTMLLabelElement {
  const element = document.createElement('label');
  element.className = 'jp-JellycellRestore-choice';
  element.append(input, document.createTextNode(' ' + text));
  return element;
}

/**
 * Ask where to restore a checkpoint.
 *
 * @returns the options, or `null` when the user cancelled
 */
export async function askRestore(
  projectPath: string,
  name: string,
  trans: TranslationBundle
): Promise<IRestoreOptions | null> {
  const result = await showDialog({
    title: trans.__('Restore checkpoint %1', name),
    body: new RestoreBody(projectPath, name, trans),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Restore') })
    ]
  });
  return result.button.accept ? result.value : null;
}

/** Ask before deleting a checkpoint; resolves to whether the user agreed. */
export async function confirmDelete(
  name: string,
  trans: TranslationBundle
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Delete checkpoint %1', name),
    body: trans.__(
      'The archive of checkpoint %1 and its summary file will be deleted for good. The project folder is not touched.',
      name
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Delete') })
    ]
  });
  return result.button.accept;
}

/** After a restore, offer to show the folder; resolves to whether the user wants it. */
export async function offerOpen(
  folder: string,
  trans: TranslationBundle
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Checkpoint restored'),
    body: trans.__('The checkpoint was restored into /%1.', folder),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Close') }),
      Dialog.okButton({ label: trans.__('Open folder') })
    ]
  });
  return result.button.accept;
}

/**
 * Ask whether to save unsaved files of the project before checkpointing them.
 *
 * @returns `save`, `skip` (checkpoint what is on disk) or `cancel`
 */
export async function askSave(
  paths: string[],
  trans: TranslationBundle
): Promise<'save' | 'skip' | 'cancel'> {
  const body = document.createElement('div');
  const intro = document.createElement('p');
  intro.textContent = trans.__(
    'These files of the project have unsaved changes. A checkpoint holds what is on disk:'
  );
  const list = document.createElement('ul');
  for (const path of paths) {
    const item = document.createElement('li');
    item.textContent = path;
    list.append(item);
  }
  body.append(intro, list);

  const result = await showDialog({
    title: trans.__('Save before creating the checkpoint?'),
    body: new Widget({ node: body }),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.createButton({
        label: trans.__('Create without saving'),
        accept: false,
        actions: ['skip']
      }),
      Dialog.okButton({ label: trans.__('Save and create') })
    ]
  });
  if (result.button.accept) {
    return 'save';
  }
  return result.button.actions.includes('skip') ? 'skip' : 'cancel';
}
