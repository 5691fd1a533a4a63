//! The one check of a playground's spec before anything is made for it, shared by the
//! reconciler (an `InvalidSpec` status) and the admission webhook (a refusal at apply): both
//! say exactly the same line for the same spec.

use bp_generator::validate::{host_path_allowed, validate};
use bp_generator::{BuilderPlayground, RenderOptions, SpecErrors, render};

/// The spec can be rendered for an API server with or without `native_sidecars` (or, when
/// `generate` produces the services, is well-formed), and its host directory lies under one
/// of `allowed_host_paths`. The error is one line, as `bp-generator render` prints it after
/// the file's name.
pub fn check_spec(pg: &BuilderPlayground, native_sidecars: bool, allowed_host_paths: &[String]) -> Result<(), String> {
    check(pg, native_sidecars, allowed_host_paths).map_err(|message| one_line(&message))
}

fn check(pg: &BuilderPlayground, native_sidecars: bool, allowed_host_paths: &[String]) -> Result<(), String> {
    host_path_allowed(&pg.spec, allowed_host_paths).map_err(|e| e.to_string())?;
    if pg.spec.generation().is_some() && pg.spec.services.is_empty() {
        let errors = validate(&pg.spec);
        return if errors.is_empty() { Ok(()) } else { Err(SpecErrors(errors).to_string()) };
    }
    let options = RenderOptions { native_sidecars, ..RenderOptions::default() };
    render(pg, &options).map(drop).map_err(|e| e.to_string())
}

/// The CLI's one line: line breaks become spaces.
pub fn one_line(message: &str) -> String {
    message.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;

    fn roots() -> Vec<String> {
        vec![bp_generator::podspec::DEFAULT_STORAGE_PATH.into()]
    }

    #[test]
    fn a_renderable_playground_passes() {
        assert_eq!(check_spec(&playground(), true, &roots()), Ok(()));
    }

    #[test]
    fn a_template_error_names_service_and_argument() {
        let mut pg = playground();
        pg.spec.services[0].args.push("{{Service \"nope\" \"http\" \"http\" \"\"}}".into());
        let message = check_spec(&pg, true, &roots()).unwrap_err();
        assert!(message.contains("nope"), "{message}");
        assert!(message.contains(&pg.spec.services[0].name), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn a_host_path_outside_the_allowed_roots_is_refused_first() {
        let mut pg = playground();
        pg.spec.storage.get_or_insert_default().path = Some("/etc".into());
        let message = check_spec(&pg, true, &roots()).unwrap_err();
        assert!(message.starts_with("spec.storage.path: \"/etc\" is outside"), "{message}");
        assert_eq!(check_spec(&pg, true, &["/".into()]), Ok(()));
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\nb\nc"), "a b c");
    }
}
