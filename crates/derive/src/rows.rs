//! `#[derive(Replicate)]` and `#[derive(Event)]`: kinds of named fields,
//! each quantized to one wire integer.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attrs::{self, MAX_FIELDS, MAX_KINDS, Wire};

/// One field of a kind.
struct Field {
    ident: Ident,
    /// The local the field is bound to in a pattern.
    binding: Ident,
    name: String,
    ty: Type,
    wire: Wire,
}

/// One kind: a variant (or the whole struct).
struct Kind {
    /// The variant, or `None` for a struct.
    variant: Option<Ident>,
    name: String,
    fields: Vec<Field>,
    /// A unit variant: no braces in patterns.
    unit: bool,
}

/// What the derive is for, to word its errors.
#[derive(Clone, Copy)]
enum Role {
    Row,
    Event,
}

impl Role {
    fn what(self) -> &'static str {
        match self {
            Self::Row => "kind",
            Self::Event => "event",
        }
    }
}

fn fields_of(
    fields: &Fields,
    kind: &str,
    role: Role,
    span: Span,
) -> syn::Result<(Vec<Field>, bool)> {
    let named = match fields {
        Fields::Named(named) => &named.named,
        Fields::Unit => return Ok((Vec::new(), true)),
        Fields::Unnamed(_) => {
            return Err(syn::Error::new(
                span,
                format!(
                    "the {} `{kind}` must have named fields (or none): each field is a \
                     named field on the wire",
                    role.what()
                ),
            ));
        }
    };
    if named.len() > MAX_FIELDS {
        return Err(syn::Error::new(
            span,
            format!(
                "the {} `{kind}` has {} fields; at most {MAX_FIELDS} fit on the wire",
                role.what(),
                named.len()
            ),
        ));
    }
    let mut out = Vec::new();
    for (i, f) in named.iter().enumerate() {
        let Some(ident) = f.ident.clone() else {
            continue;
        };
        out.push(Field {
            name: attrs::field_name(&ident, &f.attrs)?,
            binding: format_ident!("__field{}", i),
            ident,
            ty: f.ty.clone(),
            wire: attrs::wire(&f.attrs)?,
        });
    }
    Ok((out, false))
}

fn kinds_of(input: &DeriveInput, role: Role) -> syn::Result<Vec<Kind>> {
    match &input.data {
        Data::Struct(s) if matches!(role, Role::Row) => {
            let name = attrs::item_name(&input.ident, &input.attrs)?;
            let (fields, unit) = fields_of(&s.fields, &name, role, input.ident.span())?;
            Ok(vec![Kind {
                variant: None,
                name,
                fields,
                unit,
            }])
        }
        Data::Enum(e) => {
            if e.variants.len() > MAX_KINDS {
                return Err(syn::Error::new(
                    input.ident.span(),
                    format!(
                        "`{}` has {} variants; at most {MAX_KINDS} {}s fit on the wire (ids are a u8)",
                        input.ident,
                        e.variants.len(),
                        role.what()
                    ),
                ));
            }
            e.variants
                .iter()
                .map(|v| {
                    let name = attrs::item_name(&v.ident, &v.attrs)?;
                    let (fields, unit) = fields_of(&v.fields, &name, role, v.ident.span())?;
                    Ok(Kind {
                        variant: Some(v.ident.clone()),
                        name,
                        fields,
                        unit,
                    })
                })
                .collect()
        }
        _ => Err(syn::Error::new(
            input.ident.span(),
            match role {
                Role::Row => {
                    "#[derive(Replicate)] is for an enum (a kind per variant) or a struct with named fields (one kind)"
                }
                Role::Event => "#[derive(Event)] is for an enum: one kind of event per variant",
            },
        )),
    }
}

/// The pattern binding every field of a kind: `Self::Avatar { x: __field0, .. }`.
fn pattern(kind: &Kind) -> TokenStream {
    let path = match &kind.variant {
        Some(v) => quote!(Self::#v),
        None => quote!(Self),
    };
    if kind.unit {
        return path;
    }
    let binds = kind.fields.iter().map(|f| {
        let (ident, binding) = (&f.ident, &f.binding);
        quote!(#ident: #binding)
    });
    quote!(#path { #(#binds),* })
}

/// The field's quantization, as an expression.
fn quant(f: &Field) -> TokenStream {
    let ty = &f.ty;
    match &f.wire {
        Wire::Fixed(scale) => quote!(::tickwire_sim::Quantization::Fixed { scale: #scale }),
        Wire::Angle(steps) => quote!(::tickwire_sim::Quantization::Angle { steps: #steps }),
        Wire::Int(min, max) => quote!(::tickwire_sim::Quantization::Int { min: #min, max: #max }),
        Wire::Plain => {
            quote_spanned!(ty.span()=> <#ty as ::tickwire_sim::IntField>::QUANT)
        }
    }
}

/// The declarations of a kind's fields.
fn field_decls(kind: &Kind) -> TokenStream {
    let decls = kind.fields.iter().enumerate().map(|(i, f)| {
        let (id, name, quant) = (i as u8, &f.name, quant(f));
        quote! {
            ::tickwire_sim::FieldDecl {
                id: #id,
                name: ::std::string::String::from(#name),
                quant: #quant,
            }
        }
    });
    quote!(::std::vec![#(#decls),*])
}

/// The wire value of a field bound (by reference) to its binding.
fn to_wire(kind: &Kind, f: &Field) -> TokenStream {
    let (ty, b) = (&f.ty, &f.binding);
    match &f.wire {
        Wire::Fixed(scale) => quote_spanned! {ty.span()=>
            ::tickwire_sim::typed::fixed(<#ty as ::tickwire_sim::RealField>::to_f32(*#b), #scale)
        },
        Wire::Angle(steps) => quote_spanned! {ty.span()=>
            ::tickwire_sim::typed::angle(<#ty as ::tickwire_sim::RealField>::to_f32(*#b), #steps)
        },
        Wire::Int(min, max) => {
            let label = format!("{}.{}", kind.name, f.name);
            quote_spanned! {ty.span()=>
                ::tickwire_sim::typed::checked_int(
                    <#ty as ::tickwire_sim::IntField>::to_wire(*#b), #min, #max, #label)
            }
        }
        Wire::Plain => quote_spanned! {ty.span()=>
            <#ty as ::tickwire_sim::IntField>::to_wire(*#b)
        },
    }
}

/// The value of a field from the wire integer `q`.
fn from_wire(f: &Field, q: &TokenStream) -> TokenStream {
    let ty = &f.ty;
    match &f.wire {
        Wire::Fixed(scale) => {
            quote_spanned!(ty.span()=> ::tickwire_sim::typed::unfixed::<#ty>(#q, #scale))
        }
        Wire::Angle(steps) => {
            quote_spanned!(ty.span()=> ::tickwire_sim::typed::unangle::<#ty>(#q, #steps))
        }
        Wire::Int(..) | Wire::Plain => {
            quote_spanned!(ty.span()=> <#ty as ::tickwire_sim::IntField>::from_wire(#q))
        }
    }
}

/// The match arm filling `values` with a kind's fields: `pattern => { ... }`.
fn fill_arm(kind: &Kind, values: &Ident, done: TokenStream) -> TokenStream {
    let pat = pattern(kind);
    let sets = kind.fields.iter().enumerate().map(|(i, f)| {
        let v = to_wire(kind, f);
        quote!(#values[#i] = #v;)
    });
    quote!(#pat => { #(#sets)* #done })
}

/// `#[derive(Replicate)]`.
pub fn replicate(input: &DeriveInput) -> syn::Result<TokenStream> {
    let kinds = kinds_of(input, Role::Row)?;
    let ident = &input.ident;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let decls = kinds.iter().enumerate().map(|(id, k)| {
        let (id, name, fields) = (id as u8, &k.name, field_decls(k));
        quote! {
            ::tickwire_sim::KindDecl {
                id: #id,
                name: ::std::string::String::from(#name),
                fields: #fields,
            }
        }
    });
    let values = format_ident!("__values");
    let arms = kinds.iter().enumerate().map(|(id, k)| {
        let id = id as u8;
        fill_arm(k, &values, quote!((#id, #values)))
    });
    let body = if kinds.is_empty() {
        quote!(match *self {})
    } else {
        quote! {
            #[allow(unused_mut)]
            let mut #values = [0i32; ::tickwire_sim::MAX_FIELDS];
            match self { #(#arms)* }
        }
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_g ::tickwire_sim::Replicate for #ident #ty_g #where_g {
            fn kinds() -> ::std::vec::Vec<::tickwire_sim::KindDecl> {
                ::std::vec![#(#decls),*]
            }

            #[inline]
            fn quantize(&self) -> (u8, [i32; ::tickwire_sim::MAX_FIELDS]) {
                #body
            }
        }
    })
}

/// `#[derive(Event)]`.
pub fn event(input: &DeriveInput) -> syn::Result<TokenStream> {
    let kinds = kinds_of(input, Role::Event)?;
    let ident = &input.ident;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let decls = kinds.iter().map(|k| {
        let (name, fields) = (&k.name, field_decls(k));
        quote! {
            ::tickwire_sim::EventDecl {
                name: ::std::string::String::from(#name),
                fields: #fields,
            }
        }
    });
    let values = format_ident!("__values");
    let to_arms = kinds.iter().enumerate().map(|(id, k)| {
        let id = id as u8;
        fill_arm(
            k,
            &values,
            quote!(::tickwire_sim::GameEvent { kind: #id, values: #values }),
        )
    });
    let to_body = if kinds.is_empty() {
        quote!(match *self {})
    } else {
        quote! {
            #[allow(unused_mut)]
            let mut #values = [0i32; ::tickwire_sim::MAX_FIELDS];
            match self { #(#to_arms)* }
        }
    };
    let from_arms = kinds.iter().enumerate().map(|(id, k)| {
        let id = id as u8;
        let path = match &k.variant {
            Some(v) => quote!(Self::#v),
            None => quote!(Self),
        };
        let built = if k.unit {
            path
        } else {
            let inits = k.fields.iter().enumerate().map(|(i, f)| {
                let field = &f.ident;
                let v = from_wire(f, &quote!(__event.values[#i]));
                quote!(#field: #v)
            });
            quote!(#path { #(#inits),* })
        };
        quote!(#id => ::core::option::Option::Some(#built),)
    });
    Ok(quote! {
        #[automatically_derived]
        impl #impl_g ::tickwire_sim::Event for #ident #ty_g #where_g {
            fn events() -> ::std::vec::Vec<::tickwire_sim::EventDecl> {
                ::std::vec![#(#decls),*]
            }

            #[inline]
            fn to_wire(&self) -> ::tickwire_sim::GameEvent {
                #to_body
            }

            fn from_wire(__event: &::tickwire_sim::GameEvent) -> ::core::option::Option<Self> {
                match __event.kind {
                    #(#from_arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    })
}
